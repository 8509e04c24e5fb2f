import { lookUpSession, smokeUserRecord } from "@/lib/auth";
import { hasFault, signInPage } from "@/lib/config";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

// A protected page the way apps usually protect pages: without a session the
// visitor is redirected to the sign-in page (/login, or /welcome in the
// `custom-signin` fault), with an absolute URL built from the request, as
// `NextResponse.redirect(new URL(..., req.url))` does (Next.js reports
// 127.0.0.1 as localhost there).
export async function GET(req) {
  if (hasFault("open-protected")) {
    return Response.json({ account: smokeUserRecord() }, { headers: { "Cache-Control": "no-store" } });
  }
  const { session, failure } = await lookUpSession("account");
  if (failure) return failure;
  if (!session?.user) {
    const target = new URL(signInPage(), req.url);
    target.searchParams.set("callbackUrl", "/account");
    return Response.redirect(target, 307);
  }
  return Response.json({ account: session.user }, { headers: { "Cache-Control": "no-store" } });
}
