// Turns tracing on for this process when an OTLP endpoint is configured, with the standard
// variables (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME,
// OTEL_TRACES_SAMPLER and its _ARG, OTEL_BSP_* for batching, OTEL_SDK_DISABLED): spans go out over
// OTLP/HTTP in batches. Without an endpoint nothing is registered and every span is a no-op.
import { NodeTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { correlationIdGenerator } from './tracing.js';

export interface Telemetry {
  enabled: boolean;
  /** Where spans go (for the start line), when enabled. */
  endpoint?: string;
  /** Sends the spans still buffered and stops. */
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

export function startTracing(defaultServiceName: string, env: Env = process.env): Telemetry {
  // As the specification says: the traces endpoint as given, or the base endpoint + /v1/traces.
  const endpoint =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
    (env.OTEL_EXPORTER_OTLP_ENDPOINT
      ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`
      : undefined);
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true') {
    return { enabled: false, shutdown: () => Promise.resolve() };
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME || defaultServiceName,
    }),
    idGenerator: correlationIdGenerator,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }))],
  });
  provider.register();
  return { enabled: true, endpoint, shutdown: () => provider.shutdown() };
}
