-- The new platform's schema (PostgreSQL): snake_case, timestamptz, a
-- boolean, one full_name.
CREATE TABLE customers (
  id         bigint PRIMARY KEY,
  full_name  text NOT NULL,
  email      text,
  active     boolean NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE addresses (
  id          bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers (id),
  city        text NOT NULL,
  postal_code text
);

CREATE TABLE orders (
  id          bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers (id),
  amount      numeric(12,2) NOT NULL,
  ordered_at  timestamptz NOT NULL
);
