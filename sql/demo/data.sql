-- demo/data.sql: deterministic demo rows for 5 companies, generated in SQL (no data file).
INSERT INTO payment_methods VALUES (1, 'cash'), (2, 'card'), (3, 'pix'), (4, 'boleto');

INSERT INTO companies (user_id, name, created_at)
SELECT c, format('Company %s %s', c, (ARRAY['Padaria', 'Oficina', 'Loja', 'Mercado', 'Café'])[1 + c % 5]),
       timestamptz '2025-01-01 00:00:00+00' + c * interval '3 days'
  FROM generate_series(1, 5) c;

INSERT INTO products (user_id, sku, name, price, stock, tags, attrs)
SELECT c, format('SKU-%s-%s', c, p), format('Product %s of company %s', p, c),
       round((p * 3.7 + c)::numeric, 2), 1000, ARRAY['demo', 'tag' || (p % 3)],
       jsonb_build_object('color', (ARRAY['red', 'blue', 'green'])[1 + p % 3], 'weight', p * 0.25)
  FROM generate_series(1, 5) c, generate_series(1, 40) p;

INSERT INTO clients (user_id, name, email, notes)
SELECT c, format('Client %s-%s', c, k), format('client%s.%s@example.com', k, c),
       CASE WHEN k % 7 = 0 THEN E'likes "quotes", back\\slashes\nand newlines' END
  FROM generate_series(1, 5) c, generate_series(1, 30) k;

INSERT INTO sales (user_id, client_id, method_id, total, sold_at)
SELECT c, (SELECT min(id) FROM clients WHERE user_id = c) + s % 30, 1 + s % 4, 0,
       timestamptz '2026-01-01 09:00:00+00' + s * interval '7 hours'
  FROM generate_series(1, 5) c, generate_series(1, 120) s;

INSERT INTO sale_items (sale_id, product_id, quantity, unit_price)
SELECT s.id, p.id, 1 + (s.id + i) % 4, p.price
  FROM sales s
  CROSS JOIN generate_series(1, 3) i
  JOIN LATERAL (SELECT id, price FROM products
                 WHERE user_id = s.user_id ORDER BY id OFFSET ((s.id * 7 + i) % 40) LIMIT 1) p ON true;

UPDATE sales s SET total = x.sum FROM (SELECT sale_id, sum(line_total) AS sum FROM sale_items GROUP BY sale_id) x
 WHERE x.sale_id = s.id;

INSERT INTO cash_register (user_id, opened_at, closed_at, balance)
SELECT c, timestamptz '2026-01-01 08:00:00+00' + d * interval '1 day',
       timestamptz '2026-01-01 18:00:00+00' + d * interval '1 day', round((d * 101.5 + c)::numeric, 2)
  FROM generate_series(1, 5) c, generate_series(0, 29) d;

INSERT INTO service_orders (user_id, client_id, status, description, "window", meta)
SELECT c, (SELECT min(id) FROM clients WHERE user_id = c) + o % 30,
       (ARRAY['open', 'scheduled', 'done', 'cancelled']::order_status[])[1 + o % 4],
       format('Service order %s for company %s', o, c),
       tstzrange(timestamptz '2026-02-01 10:00+00' + o * interval '1 day',
                 timestamptz '2026-02-01 12:00+00' + o * interval '1 day'),
       json_build_object('priority', o % 3, 'tech', 'tech-' || (o % 4))
  FROM generate_series(1, 5) c, generate_series(1, 20) o;
