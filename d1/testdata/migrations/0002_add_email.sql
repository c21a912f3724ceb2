-- Migration number: 0002 	 2024-01-02T00:00:00.000Z
ALTER TABLE users ADD COLUMN email TEXT;
CREATE INDEX users_email ON users (email);
INSERT INTO users (name, email) VALUES ('admin', 'admin@example.com');
