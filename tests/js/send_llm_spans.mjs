// Sends COUNT LLM spans to the OTLP/HTTP endpoint URL with the official OpenTelemetry JS exporter
// (protobuf over HTTP; it streams its body with Transfer-Encoding: chunked), then prints the export result.
//   node send_llm_spans.mjs http://127.0.0.1:4318/v1/traces 80
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

const [url, count] = process.argv.slice(2);
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "js-app" }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }), { maxExportBatchSize: 16 })],
});
const tracer = provider.getTracer("spanmeter-js-test");
for (let i = 0; i < Number(count); i++) {
  const span = tracer.startSpan("chat gpt-4o-mini", {
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.usage.input_tokens": 1200,
      "gen_ai.usage.output_tokens": 350,
    },
  });
  span.end();
}
await provider.shutdown();
console.log(JSON.stringify({ sent: Number(count) }));
