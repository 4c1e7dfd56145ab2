/** A sample company website with the chat widget embedded by one script tag, as a customer would add it. */
export function DemoPage(): JSX.Element {
  const snippet = `<script src="https://support.example.com/widget/widget.js"\n        data-title="Northwind support"\n        data-token="<signed identity, optional>" async></script>`;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Northwind Outfitters · demo shop</title>
        <style>{`
          body { margin: 0; font-family: Georgia, serif; color: #23201c; background: #faf7f2; }
          header { background: #2e4a3a; color: #fff; padding: 18px 32px; display: flex; justify-content: space-between; align-items: center; }
          header a { color: #fff; margin-left: 18px; text-decoration: none; font-family: system-ui, sans-serif; font-size: 14px; }
          main { max-width: 900px; margin: 0 auto; padding: 32px; }
          .hero { background: #e8dfcf; border-radius: 10px; padding: 32px; margin-bottom: 24px; }
          .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; }
          .card { background: #fff; border: 1px solid #e2dccf; border-radius: 8px; padding: 16px; font-family: system-ui, sans-serif; font-size: 14px; }
          pre { background: #23201c; color: #f3efe6; padding: 12px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
        `}</style>
      </head>
      <body>
        <header>
          <strong>Northwind Outfitters</strong>
          <nav aria-label="Shop">
            <a href="#">Jackets</a>
            <a href="#">Boots</a>
            <a href="#">Orders</a>
          </nav>
        </header>
        <main>
          <section class="hero">
            <h1>Gear for the long trail</h1>
            <p>This is a demo shop. The chat button in the corner is the Support Copilot widget, loaded from this server with one script tag.</p>
          </section>
          <div class="grid">
            <div class="card">
              <h2>Ridge shell jacket</h2>
              <p>Waterproof, 310 g. €189</p>
            </div>
            <div class="card">
              <h2>Trailhead boots</h2>
              <p>Vibram sole, half sizes. €149</p>
            </div>
            <div class="card">
              <h2>Returns</h2>
              <p>30 days, free for members.</p>
            </div>
          </div>
          <h2>Embed it on your site</h2>
          <pre safe>{snippet}</pre>
        </main>
        <script src="/widget/widget.js" data-title="Northwind support" data-greeting="Hi! Ask us about orders, returns or sizing." async></script>
      </body>
    </html>
  );
}
