/**
 * Jest runs each test file in its own VM realm; onnxruntime-node's native addon creates output
 * tensors' typed arrays in Node's main realm, so onnxruntime-common's `instanceof Float32Array`
 * check (made against the test realm's constructor) would reject every real output. Node itself has
 * one realm: give the test realm the main realm's typed-array constructors, as production has.
 */
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = [
  'Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Uint8Array',
  'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'ArrayBuffer',
];

class SharedTypedArrayEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) this.global[name] = globalThis[name];
  }
}

module.exports = SharedTypedArrayEnvironment;
