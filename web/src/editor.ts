// CodeMirror, loaded only when the Code tab opens so the main bundle stays
// small.
import { EditorView, basicSetup } from 'codemirror';
import { EditorState, type Extension } from '@codemirror/state';
import { keymap } from '@codemirror/view';
import { html } from '@codemirror/lang-html';
import { css } from '@codemirror/lang-css';
import { javascript } from '@codemirror/lang-javascript';
import { oneDark } from '@codemirror/theme-one-dark';

function language(path: string): Extension[] {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  switch (ext) {
    case 'html':
    case 'htm':
    case 'svelte':
    case 'vue':
      return [html()];
    case 'css':
      return [css()];
    case 'js':
    case 'mjs':
    case 'cjs':
      return [javascript()];
    case 'jsx':
      return [javascript({ jsx: true })];
    case 'ts':
      return [javascript({ typescript: true })];
    case 'tsx':
      return [javascript({ jsx: true, typescript: true })];
    case 'json':
      return [javascript()];
    default:
      return [];
  }
}

export interface Editor {
  view: EditorView;
  content(): string;
  destroy(): void;
}

export function createEditor(parent: HTMLElement, path: string, doc: string, dark: boolean, onChange: () => void, onSave: () => void): Editor {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        keymap.of([
          {
            key: 'Mod-s',
            preventDefault: true,
            run: () => {
              onSave();
              return true;
            },
          },
        ]),
        basicSetup,
        ...language(path),
        ...(dark ? [oneDark] : []),
        EditorView.updateListener.of((u) => u.docChanged && onChange()),
        EditorView.contentAttributes.of({ 'aria-label': `Editor for ${path}` }),
        EditorView.theme({ '&': { height: '100%' }, '.cm-scroller': { fontFamily: 'var(--mono)' } }),
      ],
    }),
  });
  return { view, content: () => view.state.doc.toString(), destroy: () => view.destroy() };
}
