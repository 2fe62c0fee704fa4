/**
 * Request bodies: body-parser's errors for a body it could not read at all
 * (a Content-Encoding it cannot undo, or gzip/deflate/br data that is not
 * what the header says) carry no `type`, so they are marked here and the
 * error handler answers 400 naming the encoding instead of a 500.
 */
import type { RequestHandler } from 'express';

export interface UnreadableBody {
  unreadableBody: true;
  message: string;
}

export function isUnreadableBody(err: unknown): err is UnreadableBody {
  return typeof err === 'object' && err !== null && (err as { unreadableBody?: unknown }).unreadableBody === true;
}

/** Wraps a body parser so an error it raises without a body-parser type is marked unreadable. */
export function readBody(parser: RequestHandler): RequestHandler {
  return (req, res, next) =>
    parser(req, res, (err?: unknown) => {
      if (err && typeof err === 'object' && !(err as { type?: unknown }).type)
        Object.assign(err, { unreadableBody: true });
      next(err);
    });
}
