import { authRouteHandler } from "@/lib/auth-route";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const handler = authRouteHandler("/auth");

export { handler as GET, handler as POST };
