// Prints one field of native/build.json for binding.gyp's <!@(...) expansion,
// expanding "dir/*.ext" globs (sorted, so both build systems see one order).
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
const config = JSON.parse(fs.readFileSync(path.join(__dirname, 'build.json'), 'utf8'));
const field = process.argv[2];
const entries = config[field];
if (!Array.isArray(entries)) throw new Error(`native/build.json has no list '${field}'`);
const out = [];
for (const entry of entries) {
  const star = entry.indexOf('*');
  if (star < 0) { out.push(entry); continue; }
  const dir = entry.slice(0, entry.lastIndexOf('/'));
  const suffix = entry.slice(star + 1);
  if (!fs.existsSync(path.join(root, dir))) continue;
  for (const f of fs.readdirSync(path.join(root, dir)).sort()) if (f.endsWith(suffix)) out.push(`${dir}/${f}`);
}
process.stdout.write(out.join('\n'));
