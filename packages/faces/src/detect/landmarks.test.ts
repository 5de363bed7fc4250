import { decodeLandmarks, faceCrop } from './landmarks';

describe('faceCrop', () => {
  test('clips to the frame and floors to whole pixels, as face-api does', () => {
    expect(faceCrop({ x: -5.5, y: 10.7, width: 100.2, height: 50 }, 80, 60)).toEqual({ x: 0, y: 10, width: 80, height: 49 });
    expect(faceCrop({ x: 20.9, y: 5.2, width: 30.5, height: 40.9 }, 360, 288)).toEqual({ x: 20, y: 5, width: 30, height: 40 });
  });

  test('padding grows the box on every side before clipping', () => {
    expect(faceCrop({ x: 100, y: 100, width: 50, height: 40 }, 360, 288, 0.1)).toEqual({ x: 95, y: 96, width: 60, height: 48 });
  });

  test('nothing inside the frame: no crop', () => {
    expect(faceCrop({ x: 400, y: 10, width: 20, height: 20 }, 360, 288)).toBeUndefined();
    expect(faceCrop({ x: -30, y: 10, width: 20, height: 20 }, 360, 288)).toBeUndefined();
  });
});

describe('decodeLandmarks', () => {
  // two points: the input's centre and its top-left corner, for two batch items
  const output = { data: Float32Array.from([0.5, 0.5, 0, 0, 0.25, 0.75, 1, 1]), dims: [2, 4] };

  test('pad_square_center: a tall crop was padded left and right by half the difference', () => {
    const crop = { x: 10, y: 20, width: 50, height: 100 };
    const [centre, corner] = decodeLandmarks(output, crop, { inputSize: 112, resize: 'pad_square_center' });
    expect(centre.x).toBeCloseTo(35, 9);
    expect(centre.y).toBeCloseTo(70, 9);
    // the input's corner is 25 px left of the crop, in the padding
    expect(corner.x).toBeCloseTo(-15, 9);
    expect(corner.y).toBeCloseTo(20, 9);
  });

  test('pad_square: the padding is all on the right/bottom', () => {
    const crop = { x: 10, y: 20, width: 100, height: 50 };
    const [centre, corner] = decodeLandmarks(output, crop, { inputSize: 112, resize: 'pad_square' });
    expect(centre.x).toBeCloseTo(60, 9);
    expect(centre.y).toBeCloseTo(70, 9);
    expect(corner).toEqual({ x: 10, y: 20 });
  });

  test('stretch, a second batch item and another origin', () => {
    const crop = { x: 0, y: 0, width: 40, height: 80 };
    const [a, b] = decodeLandmarks(output, crop, { inputSize: 112, resize: 'stretch', origin: { x: 5, y: 6 } }, 1);
    expect(a.x).toBeCloseTo(15, 9);
    expect(a.y).toBeCloseTo(66, 9);
    expect(b.x).toBeCloseTo(45, 9);
    expect(b.y).toBeCloseTo(86, 9);
  });

  test('rejects a batch index outside the output', () => {
    expect(() => decodeLandmarks(output, { x: 0, y: 0, width: 1, height: 1 }, { inputSize: 112, resize: 'stretch' }, 2)).toThrow(/batch/);
  });
});
