import { render } from 'preact';
import 'leaflet/dist/leaflet.css';
import '../common/base.css';
import './command.css';
import { App } from './App.js';

const root = document.getElementById('app')!;
root.textContent = ''; // the static "loading" placeholder
render(<App />, root);
