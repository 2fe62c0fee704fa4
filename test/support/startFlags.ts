/** The node flags `npm start` runs the sidecar with, read from package.json, so tests and the bench start it the same way. */
import { readFileSync } from 'node:fs';

export const START_FLAGS: string[] = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  };
  return /node ((?:--\S+ )*)dist\/src\/main\.js/.exec(pkg.scripts.start)?.[1]?.trim().split(' ').filter(Boolean) ?? [];
})();
