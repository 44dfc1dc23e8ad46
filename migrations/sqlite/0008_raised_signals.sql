-- The upsell and renewal signals a daily summary has raised: the first summary that raises
-- one carries its whole draft, later ones a one-line reminder.
CREATE TABLE raised_signals (
    client TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_summary_date TEXT NOT NULL,
    PRIMARY KEY (client, kind)
);
