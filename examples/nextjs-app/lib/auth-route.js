import NextAuth from "next-auth";
import { buildAuthOptions } from "./auth";
import { authBasePath } from "./config";

/**
 * The NextAuth v4 route handler for one base path. In the App Router,
 * NextAuth(req, context, options) with context.params present dispatches to its
 * route-handler mode; the options are rebuilt per request so env vars and fault
 * modes are read at request time. The handler answers only when `basePath` is
 * the configured one (see the `custom-base-path` fault), else 404.
 */
export function authRouteHandler(basePath) {
  return async function handler(req, context) {
    if (authBasePath() !== basePath) {
      return new Response("Not Found", { status: 404, headers: { "Content-Type": "text/plain" } });
    }
    return NextAuth(req, context, buildAuthOptions());
  };
}
