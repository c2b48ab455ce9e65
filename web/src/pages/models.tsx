// Models: the comparison of the three families (GET /api/taxonomy, computed by the server from the
// registered model cards) and the card of each served model.
import { useEffect, useState } from 'preact/hooks';
import { getJson, type Card, type ModelsState } from '../api.js';

type Row = Record<string, unknown>;

/** 'inputModalities' / 'input_modalities' -> 'Input modalities' */
function heading(key: string): string {
  const words = key
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function cell(v: unknown) {
  if (Array.isArray(v)) {
    if (v.length === 0) return '–';
    // prose (data sets, purposes) reads better as a list than run together with commas
    if (v.some((x) => typeof x === 'string' && x.length > 40)) {
      return (
        <ul>
          {v.map((x, i) => (
            <li key={i}>{String(x)}</li>
          ))}
        </ul>
      );
    }
    return v.map(String).join(', ');
  }
  if (v === null || v === undefined || v === '') return '–';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** keys that name a family rather than describe it */
const NAMING_KEYS = new Set(['family', 'title', 'note']);

function rowsOf(body: unknown): Row[] {
  const list = Array.isArray(body) ? body : (body as { data?: unknown; rows?: unknown } | null)?.data ?? (body as { rows?: unknown } | null)?.rows;
  return Array.isArray(list) ? list.filter((r): r is Row => typeof r === 'object' && r !== null) : [];
}

export function ModelsPage({ state }: { state: ModelsState }) {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    getJson<unknown>('/api/taxonomy')
      .then((b) => setRows(rowsOf(b)))
      .catch((err: Error) => setError(err.message));
  }, []);

  // families side by side, one attribute a row: the comparison reads across
  const attributes = rows ? [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => !NAMING_KEYS.has(k)) : [];
  return (
    <section class="page models">
      <h1>Models</h1>
      <h2>The three families</h2>
      {error && (
        <p class="notice error" role="alert">
          Cannot load the taxonomy: {error}
        </p>
      )}
      {rows && rows.length === 0 && <p class="notice">No model architectures are registered.</p>}
      {rows && rows.length > 0 && (
        <div class="table-wrap">
          <table class="taxonomy">
            <thead>
              <tr>
                <td />
                {rows.map((r, i) => (
                  <th key={i} scope="col" data-family={cell(r.family)}>
                    {cell(r.title ?? r.family)}
                    {typeof r.note === 'string' && r.note && <span class="note">{r.note}</span>}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {attributes.map((a) => (
                <tr key={a}>
                  <th scope="row">{heading(a)}</th>
                  {rows.map((r, i) => (
                    <td key={i}>{cell(r[a])}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Served models</h2>
      {!state.loading && state.models.length === 0 && <p class="notice">No model is served. Start the server with <code>strata serve --model DIR</code>.</p>}
      <div class="cards">
        {state.models.map((m) => (
          <article key={m.id} class="card" data-model={m.id}>
            <h3>{m.id}</h3>
            {m.card ? <CardView card={m.card} /> : <p class="muted">This model declares no card.</p>}
          </article>
        ))}
      </div>
    </section>
  );
}

function CardView({ card }: { card: Card }) {
  const items: [string, string][] = [
    ['Families', card.families.join(', ')],
    ['Input → output', `${card.inputModalities.join(', ') || '–'} → ${card.outputModalities.join(', ') || '–'}`],
    ['Architecture', card.architecture],
    ['Adaptability', card.adaptability.join(', ')],
    ['Applications', card.applications.join(', ')],
    ['Primary data', card.primaryData],
    ['Purpose', card.purpose],
    ['Examples', card.examples.join(', ')],
  ];
  return (
    <dl>
      {items
        .filter(([, v]) => v)
        .map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
    </dl>
  );
}
