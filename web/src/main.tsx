// The playground shell: a nav bar over five pages, routed by the URL hash (#/chat, #/training/RUN)
// so the server needs one index.html and no rewrite rules.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { loadModels, type ModelsState } from './api.js';
import { ChatPage } from './pages/chat.js';
import { VisionPage } from './pages/vision.js';
import { SpeechPage } from './pages/speech.js';
import { TrainingPage } from './pages/training.js';
import { ModelsPage } from './pages/models.js';
import './style.css';

const PAGES = [
  { id: 'chat', label: 'Chat' },
  { id: 'vision', label: 'Vision' },
  { id: 'speech', label: 'Speech' },
  { id: 'training', label: 'Training' },
  { id: 'models', label: 'Models' },
] as const;
type PageId = (typeof PAGES)[number]['id'];

function parseHash(): { page: PageId; arg: string | null } {
  const [, page = '', ...rest] = window.location.hash.replace(/^#/, '').split('/');
  const known = PAGES.find((p) => p.id === page);
  return { page: known?.id ?? 'chat', arg: rest.length ? decodeURIComponent(rest.join('/')) : null };
}

function App() {
  const [route, setRoute] = useState(parseHash);
  const [models, setModels] = useState<ModelsState>({ models: [], loading: true, error: null });

  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    loadModels()
      .then((list) => setModels({ models: list, loading: false, error: null }))
      .catch((err: Error) => setModels({ models: [], loading: false, error: err.message }));
  }, []);

  useEffect(() => {
    document.title = `${PAGES.find((p) => p.id === route.page)!.label} · Strata`;
  }, [route.page]);

  return (
    <>
      <header class="topbar">
        <span class="brand">Strata</span>
        <nav>
          {PAGES.map((p) => (
            <a key={p.id} href={`#/${p.id}`} class={route.page === p.id ? 'active' : ''} aria-current={route.page === p.id ? 'page' : undefined}>
              {p.label}
            </a>
          ))}
        </nav>
        <span class="served" title="models served by this server">
          {models.loading ? 'loading models…' : models.error ? 'server unreachable' : `${models.models.length} model${models.models.length === 1 ? '' : 's'} served`}
        </span>
      </header>
      <main>
        {models.error && route.page !== 'training' && <p class="notice error">Cannot list the served models: {models.error}</p>}
        {route.page === 'chat' && <ChatPage state={models} />}
        {route.page === 'vision' && <VisionPage state={models} />}
        {route.page === 'speech' && <SpeechPage state={models} />}
        {route.page === 'training' && <TrainingPage selected={route.arg} />}
        {route.page === 'models' && <ModelsPage state={models} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
