import { render } from 'preact';
// Leaflet's sheet first (common/map.tsx imports it too): the board's rules (.pick-map's cursor) must come after it.
import 'leaflet/dist/leaflet.css';
import '../common/base.css';
import './command.css';
import { App } from './App.js';

const root = document.getElementById('app')!;
root.textContent = ''; // the static "loading" placeholder
render(<App />, root);
