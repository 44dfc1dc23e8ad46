-- A ticket merged into another (`helpdesk ticket merge N --into M`, `#merge M`): its messages,
-- time and participants moved there, and any later mail that threads to it goes to M.
ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets (id);
