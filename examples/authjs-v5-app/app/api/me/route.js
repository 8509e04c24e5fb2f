import { auth, smokeUserRecord } from "@/lib/auth";
import { hasFault } from "@/lib/config";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const NO_STORE = { "Cache-Control": "no-store" };

// Protected by the route handler itself (the proxy guards pages only): Auth.js's `auth()` reads
// the session from the request's cookies.
export async function GET() {
  if (hasFault("open-protected")) {
    // Fault: the protected resource is served without any session check.
    return Response.json({ user: smokeUserRecord() }, { status: 200, headers: NO_STORE });
  }
  const session = await auth();
  if (!session?.user) {
    return Response.json({ error: "unauthorized" }, { status: 401, headers: NO_STORE });
  }
  return Response.json({ user: session.user }, { status: 200, headers: NO_STORE });
}
