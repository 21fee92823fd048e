// The jaeger-agent's UDP interface: each packet is one oneway message of this service
// (compact protocol on 6831/5775, binary protocol on 6832).

// The generator prefixes included modules only when a py namespace is declared.
namespace py agent

include "jaeger.thrift"
include "zipkincore.thrift"

service Agent {
  oneway void emitZipkinBatch(1: list<zipkincore.Span> spans)
  oneway void emitBatch(1: jaeger.Batch batch)
}
