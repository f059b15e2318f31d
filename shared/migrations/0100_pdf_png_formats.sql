-- The pdf and png formats (a table or text drawn by the worker, see workers/formats.py).
ALTER TABLE schedules DROP CONSTRAINT schedules_format_check;
ALTER TABLE schedules ADD CONSTRAINT schedules_format_check
    CHECK (format IN ('json', 'csv', 'xlsx', 'html', 'text', 'pdf', 'png'));
