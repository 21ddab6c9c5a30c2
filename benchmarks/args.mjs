// The benchmark scripts' `--name value` options: opt('steps', '400') is the value after
// `--steps` on the command line, or the fallback when it is not given.
const args = process.argv.slice(2);

export const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
