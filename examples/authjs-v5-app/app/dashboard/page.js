import { redirect } from "next/navigation";
import { auth, signOut, smokeUserRecord } from "@/lib/auth";
import { hasFault } from "@/lib/config";

export const dynamic = "force-dynamic";

// Protected by the proxy (anonymous visitors are sent to /signin before this runs); the page
// checks the session again itself.
export default async function DashboardPage() {
  const open = hasFault("open-protected");
  const session = open ? { user: smokeUserRecord() } : await auth();
  if (!session?.user) redirect("/signin?callbackUrl=%2Fdashboard");

  async function signOutAction() {
    "use server";
    await signOut({ redirectTo: "/" });
  }

  return (
    <main>
      <h1>Dashboard</h1>
      <p>
        Signed in as <span data-testid="user-email">{session.user.email}</span>
      </p>
      <form action={signOutAction}>
        <button type="submit">Sign out</button>
      </form>
    </main>
  );
}
