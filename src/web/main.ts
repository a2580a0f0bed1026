// The web client's entry point (bundled by scripts/build-web.mjs into /app/assets).
import './app.css';
import { App } from './app.js';

new App(document.getElementById('main')!, document.getElementById('connection')!).start();
