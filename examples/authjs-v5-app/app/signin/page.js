import { AuthError } from "next-auth";
import { redirect } from "next/navigation";
import { signIn } from "@/lib/auth";
import { APP_NAME } from "@/lib/config";

export const dynamic = "force-dynamic";

/** Only same-site paths are passed on as the destination after signing in. */
function localPath(value) {
  return typeof value === "string" && value.startsWith("/") && !value.startsWith("//") ? value : "/dashboard";
}

// The app's own sign-in page (`pages.signIn`): Auth.js sends failed sign-ins here with
// ?error=CredentialsSignin, and the proxy sends anonymous visitors of protected pages here.
export default async function SignInPage({ searchParams }) {
  const params = (await searchParams) || {};
  const error = typeof params.error === "string" ? params.error : null;
  const redirectTo = localPath(params.callbackUrl);

  async function signInWithPassword(formData) {
    "use server";
    try {
      await signIn("credentials", formData, { redirectTo });
    } catch (err) {
      // signIn() throws Next's redirect on success; only Auth.js errors are handled here.
      if (err instanceof AuthError) redirect(`/signin?error=${encodeURIComponent(err.type)}`);
      throw err;
    }
  }

  return (
    <main>
      <h1>Sign in to {APP_NAME}</h1>
      {error ? (
        <p role="alert" style={{ color: "#b00" }}>
          Sign-in failed ({error.slice(0, 40)}).
        </p>
      ) : null}
      <form action={signInWithPassword}>
        <p>
          <label>
            Username <input name="username" type="text" autoComplete="username" required />
          </label>
        </p>
        <p>
          <label>
            Password <input name="password" type="password" autoComplete="current-password" required />
          </label>
        </p>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
