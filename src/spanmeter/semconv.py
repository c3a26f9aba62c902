"""Every attribute, event and metric name spanmeter reads or writes, in one place.

GenAI names come from OpenTelemetry's incubating semantic conventions so they
track the standard; spanmeter's own names (no convention exists for cost, data
volume or anomalies) are defined here and nowhere else.
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv._incubating.attributes import server_attributes as _server
from opentelemetry.semconv._incubating.attributes import user_attributes as _user
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes as _error

# --- GenAI semantic conventions (standard) ---------------------------------
GEN_AI_OPERATION_NAME = _gen_ai.GEN_AI_OPERATION_NAME
GEN_AI_PROVIDER_NAME = _gen_ai.GEN_AI_PROVIDER_NAME
GEN_AI_REQUEST_MODEL = _gen_ai.GEN_AI_REQUEST_MODEL
GEN_AI_RESPONSE_MODEL = _gen_ai.GEN_AI_RESPONSE_MODEL
GEN_AI_RESPONSE_ID = _gen_ai.GEN_AI_RESPONSE_ID
GEN_AI_RESPONSE_FINISH_REASONS = _gen_ai.GEN_AI_RESPONSE_FINISH_REASONS
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = _gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
GEN_AI_REQUEST_TEMPERATURE = _gen_ai.GEN_AI_REQUEST_TEMPERATURE
GEN_AI_REQUEST_MAX_TOKENS = _gen_ai.GEN_AI_REQUEST_MAX_TOKENS
GEN_AI_REQUEST_TOP_P = _gen_ai.GEN_AI_REQUEST_TOP_P
GEN_AI_REQUEST_TOP_K = _gen_ai.GEN_AI_REQUEST_TOP_K
GEN_AI_REQUEST_FREQUENCY_PENALTY = _gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY
GEN_AI_REQUEST_PRESENCE_PENALTY = _gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY
GEN_AI_REQUEST_STOP_SEQUENCES = _gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES
GEN_AI_REQUEST_SEED = _gen_ai.GEN_AI_REQUEST_SEED
GEN_AI_REQUEST_CHOICE_COUNT = _gen_ai.GEN_AI_REQUEST_CHOICE_COUNT
GEN_AI_REQUEST_STREAM = _gen_ai.GEN_AI_REQUEST_STREAM
GEN_AI_REQUEST_ENCODING_FORMATS = _gen_ai.GEN_AI_REQUEST_ENCODING_FORMATS
GEN_AI_OUTPUT_TYPE = _gen_ai.GEN_AI_OUTPUT_TYPE
GEN_AI_USAGE_INPUT_TOKENS = _gen_ai.GEN_AI_USAGE_INPUT_TOKENS
GEN_AI_USAGE_OUTPUT_TOKENS = _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = _gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = _gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = _gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
GEN_AI_AGENT_NAME = _gen_ai.GEN_AI_AGENT_NAME
GEN_AI_AGENT_ID = _gen_ai.GEN_AI_AGENT_ID
GEN_AI_TOOL_NAME = _gen_ai.GEN_AI_TOOL_NAME
GEN_AI_TOOL_CALL_ID = _gen_ai.GEN_AI_TOOL_CALL_ID
GEN_AI_TOOL_TYPE = _gen_ai.GEN_AI_TOOL_TYPE
GEN_AI_TOOL_CALL_ARGUMENTS = _gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS
GEN_AI_TOOL_DESCRIPTION = _gen_ai.GEN_AI_TOOL_DESCRIPTION
GEN_AI_TOOL_CALL_RESULT = _gen_ai.GEN_AI_TOOL_CALL_RESULT
GEN_AI_CONVERSATION_ID = _gen_ai.GEN_AI_CONVERSATION_ID
GEN_AI_RETRIEVAL_QUERY_TEXT = _gen_ai.GEN_AI_RETRIEVAL_QUERY_TEXT
GEN_AI_INPUT_MESSAGES = _gen_ai.GEN_AI_INPUT_MESSAGES
# Agent frameworks (Agno, the OpenAI Agents SDK): conversation and tool-call content.
GEN_AI_CONVERSATION_ID = _gen_ai.GEN_AI_CONVERSATION_ID
GEN_AI_TOOL_CALL_ARGUMENTS = _gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS
GEN_AI_TOOL_CALL_RESULT = _gen_ai.GEN_AI_TOOL_CALL_RESULT
# Agent hand-offs and guardrails (OpenAI Agents SDK): no convention names them yet.
HANDOFF_FROM_AGENT = "spanmeter.handoff.from_agent"
HANDOFF_TO_AGENT = "spanmeter.handoff.to_agent"
GUARDRAIL_NAME = "spanmeter.guardrail.name"
GUARDRAIL_TRIGGERED = "spanmeter.guardrail.triggered"
GEN_AI_OUTPUT_MESSAGES = _gen_ai.GEN_AI_OUTPUT_MESSAGES
# Older spellings some producers still emit; the processing stage reads both.
GEN_AI_USAGE_PROMPT_TOKENS = _gen_ai.GEN_AI_USAGE_PROMPT_TOKENS
GEN_AI_USAGE_COMPLETION_TOKENS = _gen_ai.GEN_AI_USAGE_COMPLETION_TOKENS
GEN_AI_SYSTEM = "gen_ai.system"
# The anthropic SDK's own telemetry spells cache creation this way.
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"

Operation = _gen_ai.GenAiOperationNameValues
Provider = _gen_ai.GenAiProviderNameValues

ERROR_TYPE = _error.ERROR_TYPE
SERVER_ADDRESS = _server.SERVER_ADDRESS
SERVER_PORT = _server.SERVER_PORT
USER_ID = _user.USER_ID

GEN_AI_CLIENT_TOKEN_USAGE = _gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE
GEN_AI_CLIENT_OPERATION_DURATION = _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION
GEN_AI_TOKEN_TYPE = _gen_ai.GEN_AI_TOKEN_TYPE

# Bucket boundaries the GenAI metric conventions recommend.
GEN_AI_TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
GEN_AI_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

# --- spanmeter's own operation name for pipeline stages --------------------
# No GenAI operation describes a data-processing step; stages are spans named
# `run_stage {name}` carrying `spanmeter.operation.name = run_stage`.
SPANMETER_OPERATION_NAME = "spanmeter.operation.name"
OPERATION_RUN_STAGE = "run_stage"

# --- spanmeter attributes ---------------------------------------------------
COST_USD = "spanmeter.cost.usd"
COST_INPUT_USD = "spanmeter.cost.input_usd"
COST_OUTPUT_USD = "spanmeter.cost.output_usd"
COST_SOURCE = "spanmeter.cost.source"
COST_TOTAL_USD = "spanmeter.cost.total_usd"
COST_COMPUTE_USD = "spanmeter.cost.compute_usd"
COST_PER_GB_USD = "spanmeter.cost.per_gb_usd"

COST_SOURCE_GENAI_PRICES = "genai-prices"
COST_SOURCE_OVERRIDE = "override"
COST_SOURCE_UNKNOWN = "unknown"
COST_SOURCE_UPSTREAM = "upstream"  # the span arrived with a cost from its own library: kept
COST_SOURCE_DESCENDANT = "descendant"  # an LLM span whose call is priced on an inner LLM span
# Other backends' names for a span's cost (SPANMETER_EXTRA_COST_ATTRIBUTES).
EXTRA_COST_LANGFUSE = "langfuse"
EXTRA_COST_OPENINFERENCE = "openinference"
LANGFUSE_COST = "gen_ai.usage.cost"
OPENINFERENCE_COST_PROMPT = "llm.cost.prompt"
OPENINFERENCE_COST_COMPLETION = "llm.cost.completion"
OPENINFERENCE_COST_TOTAL = "llm.cost.total"
# Metric-only dimension of spanmeter.cost: "llm" (token usage) or "compute" (stage time).
COST_KIND = "spanmeter.cost.kind"
COST_KIND_LLM = "llm"
COST_KIND_COMPUTE = "compute"

DATA_BYTES = "spanmeter.data.bytes"
DATA_RECORDS = "spanmeter.data.records"
DATA_SOURCE = "spanmeter.data.source"
DATA_QUALITY_PREFIX = "spanmeter.data.quality."
DATA_FRESHNESS_S = "spanmeter.data.freshness_s"

ANOMALY = "spanmeter.anomaly"
ANOMALY_REASONS = "spanmeter.anomaly.reasons"
ANOMALY_SCORE = "spanmeter.anomaly.score"
ANOMALY_VALUE = "spanmeter.anomaly.value"
ANOMALY_BASELINE = "spanmeter.anomaly.baseline"
# On a root span (of the trace, or of this process's part of it): some span below failed / was
# flagged. Written only when true; the Collector's tail_sampling reads them (boolean_attribute).
TRACE_ERROR = "spanmeter.trace.error"
TRACE_ANOMALY = "spanmeter.trace.anomaly"
# True on a work span that was judged on nothing because its key has too few samples yet.
ANOMALY_WARMING_UP = "spanmeter.anomaly.warming_up"

# The tool calls a response asks for (no GenAI attribute holds them outside captured content).
TOOL_CALL_NAMES = "spanmeter.tool_calls.names"
TOOL_CALL_IDS = "spanmeter.tool_calls.ids"

TEAM = "spanmeter.team"

# --- span events ------------------------------------------------------------
BUDGET_THRESHOLD_EVENT = "spanmeter.budget.threshold"
BUDGET_WINDOW = "window"
BUDGET_THRESHOLD = "threshold"
BUDGET_SPEND_USD = "spend_usd"
BUDGET_BUDGET_USD = "budget_usd"

# --- metrics ----------------------------------------------------------------
METRIC_COST = "spanmeter.cost"
METRIC_SPAN_DURATION = "spanmeter.span.duration"
METRIC_SPAN_ERRORS = "spanmeter.span.errors"
METRIC_DATA_PROCESSED = "spanmeter.data.processed"
METRIC_DATA_RECORDS = "spanmeter.data.records"
METRIC_COST_PER_GB = "spanmeter.cost.per_gb"
METRIC_DATA_COST = "spanmeter.data.cost"
"""Roll-up cost of the spans carrying data volume and a known cost: cost per GB's numerator."""
METRIC_DATA_PRICED = "spanmeter.data.priced"
"""Bytes those spans processed: cost per GB's denominator (cost per GB = sum cost / sum GB)."""
METRIC_ANOMALIES = "spanmeter.anomalies"
METRIC_ANOMALY_INCIDENTS = "spanmeter.anomaly.incidents"
METRIC_BUDGET_UTILIZATION = "spanmeter.budget.utilization"
METRIC_DATA_QUALITY = "spanmeter.data.quality"
METRIC_DATA_FRESHNESS = "spanmeter.data.freshness"
METRIC_INTERNAL_ERRORS = "spanmeter.internal.errors"
# Visible (never silent) gaps: LLM spans with no known price, children that ended
# after their parent was exported, and entries dropped from bounded tables.
METRIC_COST_UNPRICED = "spanmeter.cost.unpriced"
# Spans whose upstream cost and spanmeter's price of the same usage differ by more than 1 %.
METRIC_COST_UPSTREAM_DRIFT = "spanmeter.cost.upstream_drift"
METRIC_ROLLUP_LATE_CHILDREN = "spanmeter.rollup.late_children"
METRIC_PROCESSING_OVERFLOW = "spanmeter.processing.overflow"
# Reasons of spanmeter.cost.unpriced: usage reported but no price known, or no usage reported at all.
UNPRICED_NO_PRICE = "no_price"
UNPRICED_NO_USAGE = "no_usage"
# The span metrics Jaeger's Monitor tab reads, named as the Collector's spanmetrics connector names them.
METRIC_SPAN_METRICS_CALLS = "traces.span.metrics.calls"
METRIC_SPAN_METRICS_DURATION = "traces.span.metrics.duration"
METRIC_SPANS_DROPPED = "spanmeter.spans.dropped"  # the batch queue was full (OTEL_BSP_MAX_QUEUE_SIZE)
# Metric dimensions (low-cardinality) of the gauges and counters above.
METRIC_ATTR_WINDOW = "window"
METRIC_ATTR_DIMENSION = "dimension"
METRIC_ATTR_REASON = "reason"
METRIC_ATTR_OUTCOME = "outcome"
METRIC_ATTR_TABLE = "table"

INSTRUMENTATION_SCOPE = "spanmeter"
