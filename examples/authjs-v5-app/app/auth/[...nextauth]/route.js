import { handlers } from "@/lib/auth";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

// Auth.js v5 under /auth (the `basePath` in lib/auth.js), not next-auth's default /api/auth.
export const { GET, POST } = handlers;
