import sys
from pathlib import Path

# The app is not an installed package: the build and the tests import it from app/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
