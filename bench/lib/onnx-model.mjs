// A one-node ONNX model, C (M, N) = A (M, K) @ B (K, N), encoded by hand: the few protobuf messages
// it needs (ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto) and nothing else.
// Field numbers are those of onnx/onnx.proto.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const ONNX_FLOAT = 1; // TensorProto.DataType.FLOAT
const IR_VERSION = 8;
const OPSET = 13;

/** Unsigned varint for integers up to 2^53 (no bit ops: they truncate to 32 bits). */
function varint(value) {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint: ${value} is not a non-negative safe integer`);
  const out = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

const key = (field, wire) => varint(field * 8 + wire);
const intField = (field, value) => [...key(field, WIRE_VARINT), ...varint(value)];
const bytesField = (field, bytes) => [...key(field, WIRE_LEN), ...varint(bytes.length), ...bytes];
const stringField = (field, text) => bytesField(field, [...Buffer.from(text, 'utf8')]);
/** An embedded message from its already-encoded fields. */
const messageField = (field, ...fields) => bytesField(field, fields.flat());

/** ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 } } } } } */
function tensorValueInfo(field, name, dims) {
  const shape = messageField(2, ...dims.map((d) => messageField(1, intField(1, d))));
  const tensorType = messageField(1, intField(1, ONNX_FLOAT), shape);
  return messageField(field, stringField(1, name), messageField(2, tensorType));
}

/** Serialized ModelProto of MatMul(A (m, k), B (k, n)) -> C (m, n), all float32, static shapes. */
export function matmulModel(m, n, k) {
  // NodeProto { input = 1, output = 2, name = 3, op_type = 4 }
  const node = messageField(1, stringField(1, 'A'), stringField(1, 'B'), stringField(2, 'C'), stringField(3, 'matmul'), stringField(4, 'MatMul'));
  // GraphProto { node = 1, name = 2, input = 11, output = 12 }
  const graph = messageField(
    7,
    node,
    stringField(2, 'gemm'),
    tensorValueInfo(11, 'A', [m, k]),
    tensorValueInfo(11, 'B', [k, n]),
    tensorValueInfo(12, 'C', [m, n]),
  );
  // ModelProto { ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 { domain = 1, version = 2 } }
  const opset = messageField(8, stringField(1, ''), intField(2, OPSET));
  return Uint8Array.from([...intField(1, IR_VERSION), ...stringField(2, 'strata-bench'), ...graph, ...opset]);
}
