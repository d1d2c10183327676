-- Comments under course pages. `page` is the page's key within its course ("" for the course
-- home, "week1/" for a folder's index.md, "week1/intro" for week1/intro.md), so a comment stays
-- with its page across deploys as long as the file keeps its path. Times are ms since the epoch.
CREATE TABLE comments (
  id         INTEGER PRIMARY KEY,
  course     TEXT NOT NULL,
  page       TEXT NOT NULL,
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- The markdown as written; rendered (raw HTML off) when shown.
  body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
  created_at INTEGER NOT NULL,
  edited_at  INTEGER,
  -- Set by staff: a hidden comment is shown to staff only.
  hidden_at  INTEGER,
  hidden_by  INTEGER REFERENCES users (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX comments_page ON comments (course, page, created_at);
-- The rate limit counts a user's recent comments.
CREATE INDEX comments_user ON comments (user_id, created_at);
