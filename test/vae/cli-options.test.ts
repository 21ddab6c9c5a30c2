// tessera train-vae's --data syntax: source[:weight][@HxW+HxW], comma-separated.
import { describe, expect, it } from 'vitest';
import { parseDataOption, parseTrainVaeOptions } from '../../lib/cli/vae.js';

describe('train-vae --data', () => {
  it('keeps a single plain source as a string, a plain list as equal weights', () => {
    expect(parseDataOption('world')).toBe('world');
    expect(parseDataOption('/data/my clips')).toBe('/data/my clips');
    expect(parseDataOption('world, fashion-mnist')).toEqual([{ source: 'world' }, { source: 'fashion-mnist' }]);
  });

  it('reads weights and per-source sizes', () => {
    expect(parseDataOption('world:3,fashion-mnist@32x32')).toEqual([
      { source: 'world', weight: 3 },
      { source: 'fashion-mnist', sizes: [[32, 32]] },
    ]);
    expect(parseDataOption('./clips:0.5@64x48+48x64')).toEqual([{ source: './clips', weight: 0.5, sizes: [[64, 48], [48, 64]] }]);
    // an @ or : that is not a size list or a weight is part of the path
    expect(parseDataOption('./a@b:c')).toBe('./a@b:c');
  });

  it('names the rule and the value of a bad entry', () => {
    expect(() => parseDataOption('world:0')).toThrow('--data weights must be numbers > 0, got 0 in world:0');
    expect(() => parseDataOption('world,:2')).toThrow("--data entries must be source[:weight][@HxW+...], got ':2'");
    expect(() => parseTrainVaeOptions({ data: '', out: 'x', steps: '1' })).toThrow('--data must be world, fashion-mnist or a folder path, got ');
  });
});

describe('train-vae --crop', () => {
  it('is one HxW window', () => {
    const base = { data: 'world', out: 'x', steps: '1' };
    expect(parseTrainVaeOptions({ ...base, crop: '32x48' }).crop).toEqual([32, 48]);
    expect(parseTrainVaeOptions(base).crop).toBeUndefined();
    expect(() => parseTrainVaeOptions({ ...base, crop: '32x32,16x16' })).toThrow('--crop must be one HxW window (e.g. 32x32), got 32x32,16x16');
  });
});

describe('train-vae loss weights', () => {
  it('default to L1 + MSE, and one of them must be > 0', () => {
    const base = { data: 'world', out: 'x', steps: '1' };
    expect(parseTrainVaeOptions(base)).toMatchObject({ l1Weight: 1, mseWeight: 1 });
    expect(parseTrainVaeOptions({ ...base, l1Weight: '0', mseWeight: '2.5' })).toMatchObject({ l1Weight: 0, mseWeight: 2.5 });
    expect(() => parseTrainVaeOptions({ ...base, l1Weight: '0', mseWeight: '0' })).toThrow(
      '--l1-weight + --mse-weight must be > 0 (some reconstruction loss), got 0 + 0',
    );
    expect(() => parseTrainVaeOptions({ ...base, mseWeight: '-1' })).toThrow('--mse-weight must be a number >= 0, got -1');
  });
});

describe('train-vae latent channels and shortcut', () => {
  it('override the --config, and bad values name the option and the rule', () => {
    const base = { data: 'world', out: 'x', steps: '1' };
    expect(parseTrainVaeOptions(base).config).toMatchObject({ latentChannels: 8, meanShortcut: true });
    expect(parseTrainVaeOptions({ ...base, latentChannels: '16', shortcut: 'linear' }).config).toMatchObject({
      latentChannels: 16,
      meanShortcut: false,
      linearShortcut: true,
    });
    expect(parseTrainVaeOptions({ ...base, shortcut: 'none' }).config).toMatchObject({ meanShortcut: false, linearShortcut: false });
    expect(parseTrainVaeOptions(base).shortcutFitBatches).toBe(200);
    expect(() => parseTrainVaeOptions({ ...base, shortcut: 'pca' })).toThrow('--shortcut must be none, mean or linear, got pca');
    expect(() => parseTrainVaeOptions({ ...base, latentChannels: '0' })).toThrow(/--latent-channels must be an integer between 1 and 1024/);
    expect(() => parseTrainVaeOptions({ ...base, shortcutFitBatches: '-2' })).toThrow(/--shortcut-fit-batches must be an integer >= 0/);
  });
});
