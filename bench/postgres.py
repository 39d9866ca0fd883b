"""What both benchmarks ask of PostgreSQL before they start: does it answer, and is the database there?"""


def postgres_unavailable(url: str, log=print) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it answers; a missing database is created."""
    import psycopg
    from sqlalchemy.engine import make_url

    from portal.config import normalise_database_url

    parsed = make_url(normalise_database_url(url))
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(plain, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            return _one_line(error)
        try:
            maintenance = parsed.set(drivername="postgresql", database="postgres").render_as_string(
                hide_password=False)
            with psycopg.connect(maintenance, connect_timeout=3, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{parsed.database}"')
            log(f"Created PostgreSQL database {parsed.database}.")
        except Exception as create_error:  # noqa: BLE001 - any failure is a reason to skip
            return _one_line(create_error)
    except Exception as error:  # noqa: BLE001 - any failure is a reason to skip
        return _one_line(error)
    return None


def _one_line(error: Exception) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())
