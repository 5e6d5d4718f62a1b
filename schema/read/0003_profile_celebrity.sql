-- Whether the author's posts are delivered by fan-out on read.
ALTER TABLE profiles ADD COLUMN celebrity BOOLEAN NOT NULL DEFAULT false;
