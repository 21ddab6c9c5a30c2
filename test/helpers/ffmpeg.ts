// Whether the ffmpeg and ffprobe binaries are on PATH: the video tests run only where
// they are (CI installs Debian's ffmpeg).
import { execFileSync } from 'node:child_process';

function found(): boolean {
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    execFileSync('ffprobe', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const FFMPEG: boolean = found();
