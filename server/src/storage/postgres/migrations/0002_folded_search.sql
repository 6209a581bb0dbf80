-- The ops console's search, folded and indexed as on SQLite.
--
-- SQLite keeps one text per installation in an FTS5 index whose tokenizer
-- (unicode61, remove_diacritics 2) folds case and accents: "muller" finds
-- Müller. PostgreSQL computed the text per search from
-- installation_search_source (every installation, every search) and did
-- not fold accents. Here each installation's text is stored once as a
-- tsvector of its unaccented words, kept in step by triggers on the same
-- events as SQLite's (a new installation, a lead's body, a report's
-- body), and GIN-indexed: a search reads the index for every word prefix.
--
-- unaccent ships with PostgreSQL (postgresql-contrib, part of Debian's
-- postgresql package) and is a trusted extension: the database's owner
-- may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;

-- The words of an installation's text: accents removed, split at ASCII
-- punctuation and white space (so "SN-123456" is the words "sn" and
-- "123456", as the search splits what is typed), lower-cased by the
-- 'simple' configuration. Searches fold what is typed with unaccent too.
CREATE FUNCTION installation_search_document(source text) RETURNS tsvector
LANGUAGE sql STABLE AS $$
    SELECT to_tsvector('simple', regexp_replace(unaccent(source), '[[:punct:][:space:]]+', ' ', 'g'))
$$;

CREATE TABLE installation_search_documents (
    installation_id text COLLATE "C" PRIMARY KEY,
    document        tsvector NOT NULL
);
CREATE INDEX installation_search_documents_words
    ON installation_search_documents USING gin (document);

CREATE FUNCTION installation_search_after_installation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO installation_search_documents (installation_id, document)
        SELECT s.installation_id, installation_search_document(s.text)
        FROM installation_search_source s WHERE s.installation_id = NEW.id
    ON CONFLICT (installation_id) DO UPDATE SET document = excluded.document;
    RETURN NULL;
END;
$$;
CREATE TRIGGER installations_search_ai AFTER INSERT ON installations
    FOR EACH ROW EXECUTE FUNCTION installation_search_after_installation();

CREATE FUNCTION installation_search_after_lead() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO installation_search_documents (installation_id, document)
        SELECT s.installation_id, installation_search_document(s.text)
        FROM installation_search_source s
        JOIN installations i ON i.id = s.installation_id
        WHERE i.lead_id = NEW.id
    ON CONFLICT (installation_id) DO UPDATE SET document = excluded.document;
    RETURN NULL;
END;
$$;
CREATE TRIGGER leads_search_au AFTER UPDATE OF body ON leads
    FOR EACH ROW EXECUTE FUNCTION installation_search_after_lead();

CREATE FUNCTION installation_search_after_report() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO installation_search_documents (installation_id, document)
        SELECT s.installation_id, installation_search_document(s.text)
        FROM installation_search_source s WHERE s.installation_id = NEW.installation_id
    ON CONFLICT (installation_id) DO UPDATE SET document = excluded.document;
    RETURN NULL;
END;
$$;
CREATE TRIGGER reports_search_aiu AFTER INSERT OR UPDATE OF body ON reports
    FOR EACH ROW EXECUTE FUNCTION installation_search_after_report();

INSERT INTO installation_search_documents (installation_id, document)
    SELECT installation_id, installation_search_document(text) FROM installation_search_source;
