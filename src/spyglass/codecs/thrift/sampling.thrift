// Remote sampling strategies served to SDKs (GET /sampling, /api/sampling).

namespace py sampling
namespace java io.jaegertracing.thrift.sampling_manager

enum SamplingStrategyType { PROBABILISTIC = 0, RATE_LIMITING = 1 }

struct ProbabilisticSamplingStrategy {
  1: required double samplingRate
}

struct RateLimitingSamplingStrategy {
  1: required i16 maxTracesPerSecond
}

struct OperationSamplingStrategy {
  1: required string operation
  2: required ProbabilisticSamplingStrategy probabilisticSampling
}

struct PerOperationSamplingStrategies {
  1: required double defaultSamplingProbability
  2: required double defaultLowerBoundTracesPerSecond
  3: required list<OperationSamplingStrategy> perOperationStrategies
  4: optional double defaultUpperBoundTracesPerSecond
}

struct SamplingStrategyResponse {
  1: required SamplingStrategyType strategyType
  2: optional ProbabilisticSamplingStrategy probabilisticSampling
  3: optional RateLimitingSamplingStrategy rateLimitingSampling
  4: optional PerOperationSamplingStrategies operationSampling
}

service SamplingManager {
  SamplingStrategyResponse getSamplingStrategy(1: string serviceName)
}
