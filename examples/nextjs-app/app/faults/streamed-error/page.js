// A page that answers 200 and then fails: the part inside <Suspense> throws while the response streams,
// after the status line was sent. The smoke suite must not take the 200 for a working page (it finds the
// error row React writes into the page's Server Components payload). Never linked from the app.
import { Suspense } from "react";

export const dynamic = "force-dynamic";

async function Orders() {
  await new Promise((resolve) => setTimeout(resolve, 20));
  throw new Error("the orders list failed to load");
}

export default function Page() {
  return (
    <main>
      <h1>Orders</h1>
      <Suspense fallback={<p>Loading orders…</p>}>
        <Orders />
      </Suspense>
    </main>
  );
}
