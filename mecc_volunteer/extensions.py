"""Extensions, unbound: the app factory calls init_app on each."""

from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from mecc_volunteer.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
login_manager.login_view = "auth.sign_in"
login_manager.login_message = None
login_manager.session_protection = "basic"


mail = Mail()
csrf = CSRFProtect()
