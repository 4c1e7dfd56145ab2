import { readFile } from "node:fs/promises";

/** `tfidf.json` beside a head that also reads word n-grams: vocabulary in column order and sklearn-style idf. */
export interface TfidfSpec {
  vocab: string[];
  idf: number[];
}

const WORD = /[\p{L}\p{N}_]{2,}/gu;

/** Lower-cased word unigrams + bigrams (words of ≥2 letters/digits); the single tokenizer used by training and serving. */
export function ngrams(text: string): string[] {
  const words = text.toLowerCase().match(WORD) ?? [];
  const out = [...words];
  for (let i = 0; i + 1 < words.length; i++) out.push(`${words[i]} ${words[i + 1]}`);
  return out;
}

/** Sparse TF-IDF features: sublinear tf (1 + ln tf) × idf, L2-normalised, as a dense row for the ONNX head. */
export class Tfidf {
  private readonly index: Map<string, number>;

  constructor(readonly spec: TfidfSpec) {
    this.index = new Map(spec.vocab.map((t, i) => [t, i]));
  }

  /** Loads `tfidf.json`. */
  static async load(path: string): Promise<Tfidf> {
    return new Tfidf(JSON.parse(await readFile(path, "utf8")) as TfidfSpec);
  }

  get size(): number {
    return this.spec.vocab.length;
  }

  /** Writes the feature row of `text` into `out` at `offset` (out must be zero there). */
  fill(text: string, out: Float32Array, offset = 0): void {
    const counts = new Map<number, number>();
    for (const g of ngrams(text)) {
      const j = this.index.get(g);
      if (j !== undefined) counts.set(j, (counts.get(j) ?? 0) + 1);
    }
    let norm = 0;
    const vals: [number, number][] = [];
    for (const [j, c] of counts) {
      const v = (1 + Math.log(c)) * this.spec.idf[j]!;
      vals.push([j, v]);
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [j, v] of vals) out[offset + j] = v / norm;
  }
}
