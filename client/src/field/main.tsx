import { render } from 'preact';
import '../common/base.css';
import './field.css';
import { FieldApp } from './FieldApp.js';

const root = document.getElementById('app')!;
root.textContent = ''; // the static "loading" placeholder
render(<FieldApp />, root);

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
}
