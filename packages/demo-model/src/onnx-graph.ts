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

  input(name: string, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  floatConst(values: ArrayLike<number>, dims: number[], name = this.fresh('const')): string {
    this.initializers.push({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims, floatData: Array.from(values) });
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

function valueInfo(name: string, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
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
