"""Extension instances, each wired to the app in ``create_app``."""

from flask_babel import Babel
from flask_compress import Compress
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

from portal.models.base import Base

# Views commit once and then render: keep loaded values instead of reloading each object after commit.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
mail = Mail()
compress = Compress()
talisman = Talisman()
htmx = Htmx()  # adds request.htmx; Vary and CSRF wiring are ours (portal.web.htmx_aware, the layouts)
