import LoginPage from "../login/page";

export const dynamic = "force-dynamic";

// The custom sign-in page of the `custom-signin` fault (NextAuth's pages.signIn).
export default LoginPage;
