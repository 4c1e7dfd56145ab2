/** The demo bank's website (Northwind Bank, whose help centre is the default kb/) with the chat widget embedded by one script tag, as a customer would add it. */
export function DemoPage(): JSX.Element {
  const snippet = `<script src="https://support.example.com/widget/widget.js"\n        data-title="Northwind Bank support"\n        data-token="<signed identity, optional>" async></script>`;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Northwind Bank · demo site</title>
        <style>{`
          body { margin: 0; font-family: system-ui, sans-serif; color: #14213d; background: #f5f7fb; }
          header { background: #0b2e59; color: #fff; padding: 18px 32px; display: flex; justify-content: space-between; align-items: center; }
          header a { color: #fff; margin-left: 18px; text-decoration: none; font-size: 14px; }
          main { max-width: 900px; margin: 0 auto; padding: 32px; }
          .hero { background: #dde7f5; border-radius: 10px; padding: 32px; margin-bottom: 24px; }
          .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; }
          .card { background: #fff; border: 1px solid #d3dcea; border-radius: 8px; padding: 16px; font-size: 14px; }
          pre { background: #14213d; color: #eef2f9; padding: 12px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
        `}</style>
      </head>
      <body>
        <header>
          <strong>Northwind Bank</strong>
          <nav aria-label="Bank">
            <a href="#accounts">Accounts</a>
            <a href="#cards">Cards</a>
            <a href="#payments">Payments</a>
            <a href="#business">Business</a>
          </nav>
        </header>
        <main>
          <section class="hero">
            <h1>Everyday banking, answered</h1>
            <p>This is a demo bank. The chat button in the corner is the Support Copilot widget, loaded from this server with one script tag; its answers come from the bank's help centre (kb/northwind).</p>
          </section>
          <div class="grid">
            <div class="card">
              <h2>Current account</h2>
              <p>No monthly fee on Standard. Open it in the app in minutes.</p>
            </div>
            <div class="card">
              <h2>Cards</h2>
              <p>Freeze, unfreeze and replace your card in the app.</p>
            </div>
            <div class="card">
              <h2>Payments</h2>
              <p>UK transfers by Faster Payments, international by SWIFT and SEPA.</p>
            </div>
          </div>
          <h2>Embed it on your site</h2>
          <pre safe>{snippet}</pre>
        </main>
        <script src="/widget/widget.js" data-title="Northwind Bank support" data-greeting="Hi! Ask us about your card, payments, fees or your account." async></script>
      </body>
    </html>
  );
}
