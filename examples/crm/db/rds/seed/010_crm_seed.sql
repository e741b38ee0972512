-- The example's data: deterministic, realistic-looking, generated server-side (1M contacts in seconds).
-- A seed runs once, after the migrations, on the stand-in only (never on --rds-url without
-- --seed-remote); `pgapp reset` runs it again on a fresh rds. Its size: pgapp.seed_rows, set by
-- --seed small|medium|large (1k, 100k, 1M) = the contacts; companies = contacts / 10,
-- deals = contacts / 4, activities = contacts. Explicit ids, then the identity sequences are moved on.
CREATE TEMP TABLE seed_words AS
SELECT
  ARRAY['Acme','Globex','Initech','Umbrella','Hooli','Stark','Wayne','Wonka','Soylent','Cyberdyne',
        'Tyrell','Vandelay','Pied Piper','Oscorp','Aperture','Gringotts'] AS brands,
  ARRAY['Labs','Systems','Industries','Holdings','Partners','Group','Works','Dynamics'] AS suffixes,
  ARRAY['software','retail','health','finance','energy','logistics','media','education'] AS industries,
  ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Linus','Ken','Dennis','Frances',
        'John','Radia','Tim','Shafi','Leslie','Niklaus','Guido','Anders','Bjarne'] AS first_names,
  ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Hamilton','Torvalds','Thompson',
        'Ritchie','Allen','McCarthy','Perlman','Berners-Lee','Goldwasser','Lamport','Wirth','van Rossum',
        'Hejlsberg','Stroustrup'] AS last_names,
  ARRAY['CEO','CTO','VP Sales','Engineer','Buyer','Analyst','Head of Ops','Product Manager'] AS titles,
  ARRAY['lead','qualified','proposal','negotiation','won','lost'] AS stages,
  ARRAY['call','email','meeting','note'] AS kinds,
  greatest(current_setting('pgapp.seed_rows')::bigint, 10) AS n;

INSERT INTO crm.companies (id, name, domain, industry, employees, created_at)
SELECT i,
       brands[1 + i % 16] || ' ' || suffixes[1 + (i / 16) % 8] || ' ' || i,
       'company' || i || '.example.com',
       industries[1 + (i * 7) % 8],
       5 + (i * 37) % 5000,
       timestamptz '2024-01-01 09:00+00' + (i % 365) * interval '1 day'
FROM seed_words, generate_series(1, n / 10) AS i;

INSERT INTO crm.contacts (id, company_id, first_name, last_name, email, phone, title, created_at)
SELECT i, c,
       first_names[1 + i % 20],
       last_names[1 + (i / 20) % 20],
       lower(replace(first_names[1 + i % 20] || '.' || last_names[1 + (i / 20) % 20], ' ', '')) || i || '@company' || c || '.example.com',
       '+1-555-' || lpad(((i * 7919) % 10000)::text, 4, '0'),
       titles[1 + (i * 3) % 8],
       timestamptz '2024-01-01 09:00+00' + (i % 700) * interval '1 day' + (i % 86400) * interval '1 second'
FROM seed_words, generate_series(1, n) AS i, LATERAL (SELECT 1 + (i * 7919) % (n / 10) AS c) AS co;

INSERT INTO crm.deals (id, company_id, contact_id, title, stage, amount, close_date, created_at)
SELECT i, 1 + (i * 4 * 7919) % (n / 10), i * 4,
       'Deal ' || i || ': ' || industries[1 + i % 8] || ' platform',
       stages[1 + (i * 5) % 6],
       round((500 + (i * 7727) % 250000)::numeric, 2),
       date '2025-01-01' + (i % 540)::int,
       timestamptz '2024-06-01 09:00+00' + (i % 500) * interval '1 day'
FROM seed_words, generate_series(1, n / 4) AS i;

INSERT INTO crm.activities (id, contact_id, deal_id, kind, subject, occurred_at, created_at)
SELECT i, i, CASE WHEN i % 4 = 0 THEN i / 4 END,
       kinds[1 + i % 4],
       initcap(kinds[1 + i % 4]) || ' with contact ' || i,
       timestamptz '2025-01-01 09:00+00' + (i % 300) * interval '1 day' + (i % 480) * interval '1 minute',
       timestamptz '2025-01-01 09:00+00' + (i % 300) * interval '1 day'
FROM seed_words, generate_series(1, n) AS i;

SELECT setval(pg_get_serial_sequence('crm.companies', 'id'), n / 10),
       setval(pg_get_serial_sequence('crm.contacts', 'id'), n),
       setval(pg_get_serial_sequence('crm.deals', 'id'), n / 4),
       setval(pg_get_serial_sequence('crm.activities', 'id'), n)
FROM seed_words;
DROP TABLE seed_words;
ANALYZE crm.companies, crm.contacts, crm.deals, crm.activities;
