// Types of gateway.mjs, for the project's TypeScript (its unit tests); the image runs the .mjs alone.
import type { Server } from 'node:http';
import type { Limits } from '../../src/config/limits.ts';

export type { Limits };
export interface Refusal {
  status: number;
  body: { code: string; details: null; hint: string | null; message: string };
}
export const LIMITS: Readonly<Limits>;
export function limitsFrom(json: string | undefined): Readonly<Limits>;
export function embedShape(select: string): { count: number; depth: number };
export function clientKey(headers: Record<string, string | string[] | undefined>, address?: string): string;
export function checkRequest(
  url: string,
  headers: Record<string, string | string[] | undefined>,
  limits?: Limits,
  explainKey?: string,
): Refusal | undefined;
export function rewriteResponse(
  status: number,
  body: string,
): { status: number; body: Record<string, unknown> } | undefined;
export function createGateway(opts: {
  upstream: string;
  timeoutMs: number;
  limits?: Limits;
  explainKey?: string;
  log?: (line: string) => void;
}): Server;
