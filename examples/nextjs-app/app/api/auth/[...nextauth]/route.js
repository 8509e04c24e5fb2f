import NextAuth from "next-auth";
import { buildAuthOptions } from "@/lib/auth";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

// NextAuth v4 in the App Router: NextAuth(req, context, options) with
// context.params present dispatches to its route-handler mode. The options
// are rebuilt per request so env vars / fault modes are read at request time.
async function handler(req, context) {
  return NextAuth(req, context, buildAuthOptions());
}

export { handler as GET, handler as POST };
