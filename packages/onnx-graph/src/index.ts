import { onnx } from 'onnx-proto';

/**
 * A small ONNX graph writer, so that Talkie can generate real models (run by ONNX Runtime like any
 * operator-provided one) without Python or downloaded weights.
 */
export type Dim = number | string;

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  input(name: string, dims: Dim[], elemType: ElemType = 'float'): string {
    this.inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  output(name: string, dims: Dim[], elemType: ElemType = 'float'): void {
    this.outputs.push(valueInfo(name, dims, elemType));
  }

  floatConst(values: ArrayLike<number>, dims: number[], name = this.fresh('const')): string {
    // raw little-endian bytes: a repeated float field costs several times more to encode and parse
    // for the converted face models' weights (hundreds of thousands of values)
    const data = Float32Array.from(values);
    this.initializers.push({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  intConst(values: number[], dims: number[] = [values.length], name = this.fresh('const')): string {
    this.initializers.push({ name, dataType: onnx.TensorProto.DataType.INT64, dims, int64Data: values });
    return name;
  }

  /** Adds a node; returns its output name (`outputName` when given, e.g. for the graph output). */
  op(opType: string, inputs: string[], attributes: onnx.IAttributeProto[] = [], outputName = this.fresh(opType.toLowerCase())): string {
    this.nodes.push({ opType, input: inputs, output: [outputName], attribute: attributes, name: outputName });
    return outputName;
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  toBytes(opset = 17): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'talkie',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

export type ElemType = 'float' | 'int64';

function valueInfo(name: string, dims: Dim[], elemType: ElemType): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elemType === 'float' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export const attr = {
  ints: (name: string, ints: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  int: (name: string, i: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  float: (name: string, f: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
};
