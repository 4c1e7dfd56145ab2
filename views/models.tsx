/** The admin "Models" page: the intent calibration report written by `bun run eval:intent --report`. */

/** The report's shape (scripts/ml/eval.ts). */
export interface CalibrationReport {
  version: string;
  file: string;
  split: string;
  rows: number;
  accuracy: number;
  macro_f1: number;
  ece: number;
  unknown_threshold: number;
  coverage: number;
  accuracy_on_covered: number;
  reliability: { lo: number; hi: number; n: number; confidence: number | null; accuracy: number | null }[];
  coverage_curve: { threshold: number; coverage: number; accuracy: number | null }[];
  per_intent: { label: string; support: number; precision: number; recall: number; f1: number }[];
  at: string;
}

const pct = (v: number | null) => (v === null || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(1)}%`);

/** Renders the calibration report (every value escaped), or how to produce one. */
export function ModelsPage(p: { report: CalibrationReport | null; versions: { intent: string; sentiment: string } | null; error?: string }): JSX.Element {
  const r = p.report;
  return (
    <section>
      <h1>Models</h1>
      {p.versions ? (
        <p>
          In service: intent <code safe>{p.versions.intent}</code>, sentiment <code safe>{p.versions.sentiment}</code>
        </p>
      ) : null}
      {!r ? (
        <p safe>{p.error ?? "No calibration report yet: run `bun run eval:intent --split dev --report`."}</p>
      ) : (
        <div>
          <h2>Intent calibration</h2>
          <p safe>
            {`Head ${r.version}, ${r.rows} rows of ${r.file} (${r.split}), measured ${r.at}: accuracy ${pct(r.accuracy)}, macro-F1 ${pct(r.macro_f1)}, ECE ${r.ece.toFixed(4)}. Unknown below ${r.unknown_threshold}: answers ${pct(r.coverage)} at ${pct(r.accuracy_on_covered)} accuracy.`}
          </p>
          <h3>Reliability diagram</h3>
          <table class="grid">
            <thead>
              <tr>
                <th scope="col">confidence bin</th>
                <th scope="col">rows</th>
                <th scope="col">mean confidence</th>
                <th scope="col">accuracy</th>
              </tr>
            </thead>
            <tbody>
              {r.reliability.map((b) => (
                <tr>
                  <td safe>{`${b.lo.toFixed(1)}–${b.hi.toFixed(1)}`}</td>
                  <td safe>{String(b.n)}</td>
                  <td safe>{pct(b.confidence)}</td>
                  <td safe>{pct(b.accuracy)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Coverage / accuracy by unknown threshold</h3>
          <table class="grid">
            <thead>
              <tr>
                <th scope="col">threshold</th>
                <th scope="col">coverage</th>
                <th scope="col">accuracy on covered</th>
              </tr>
            </thead>
            <tbody>
              {r.coverage_curve.map((c) => (
                <tr>
                  <td safe>{c.threshold.toFixed(2)}</td>
                  <td safe>{pct(c.coverage)}</td>
                  <td safe>{pct(c.accuracy)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Per intent</h3>
          <table class="grid">
            <thead>
              <tr>
                <th scope="col">intent</th>
                <th scope="col">support</th>
                <th scope="col">precision</th>
                <th scope="col">recall</th>
                <th scope="col">F1</th>
              </tr>
            </thead>
            <tbody>
              {r.per_intent.map((c) => (
                <tr>
                  <td safe>{c.label}</td>
                  <td safe>{String(c.support)}</td>
                  <td safe>{pct(c.precision)}</td>
                  <td safe>{pct(c.recall)}</td>
                  <td safe>{pct(c.f1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
